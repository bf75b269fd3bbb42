// The API reference, from the swagger-ui-bundle package served by the gateway itself (no CDN).
// Requests made from "Try it out" carry the session cookie, so they need the CSRF header too.
function csrfToken() {
  const found = document.cookie.split("; ").find((part) => part.startsWith("facetag_csrf="));
  return found ? decodeURIComponent(found.slice("facetag_csrf=".length)) : "";
}

window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    requestInterceptor: (request) => {
      if (request.method && request.method.toUpperCase() !== "GET") request.headers["X-CSRF-Token"] = csrfToken();
      return request;
    },
  });
});
