"""Live events leaving the gateway: webhooks, upload callbacks and MQTT."""
