"""The websocket server: many live streams on one model, over the native and Vosk protocols.
A transport: it sits on top of the streaming engine and the sans-I/O protocols; nothing below
imports it."""
