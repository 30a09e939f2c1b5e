"""WhatsApp: business numbers, templates, sending, delivery, statuses and inbound messages."""
