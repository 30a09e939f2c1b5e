"""WhatsApp channels: the simulator and Meta's WhatsApp Business Cloud API."""
