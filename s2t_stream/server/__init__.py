"""The server: many live streams on one model over the native and Vosk websocket protocols, a web
page and OpenAI's transcription API, on one port (Starlette on uvicorn). A transport: it sits on
top of the streaming engine, the offline transcriber and the sans-I/O protocols; nothing below
imports it."""
