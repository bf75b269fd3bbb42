"""Who is asking (principal), what each route needs (policy), and the browser protections around them."""
