"""Deepiri notification-service: turns platform events into notifications (an inbox with
preferences and quiet hours), emits them to the user's Socket.IO room and sends account mail
through the SMTP relay (docs/services/notification-service.md)."""
