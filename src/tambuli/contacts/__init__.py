"""Contacts, groups, custom fields and phone-number normalisation."""
