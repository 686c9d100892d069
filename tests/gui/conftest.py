"""Qt tests run offscreen (no display needed) unless QT_QPA_PLATFORM says otherwise."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
