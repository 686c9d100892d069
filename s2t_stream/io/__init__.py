"""Events to and from the outside world: websocket protocols (both halves), the native client,
microphone capture, terminal captions and subtitle files."""
