"""One Pulumi ComponentResource per concern: network, secrets, host, alerting."""
