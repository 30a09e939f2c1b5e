"""The only code that talks to operators: SMS, airtime and WhatsApp channels, and their config."""
