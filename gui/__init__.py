"""s2t-stream's desktop app: live captions in a window and an always-on-top overlay."""
