"""Files: the media of WhatsApp messages and voice prompts, stored per organization."""
