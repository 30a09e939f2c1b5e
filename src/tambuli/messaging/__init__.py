"""SMS: segments (GSM-7/UCS-2), personalisation, prices, sending, delivery, receipts, inbound."""
