"""Exit 0 when the app's /health answers 200, else 1."""
import sys
import urllib.request

try:
    with urllib.request.urlopen("http://localhost:8000/health", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
