"""Add a note: `python add_note.py "buy milk"` (run it inside the container with docker exec)."""
import os
import sys

DATA = os.environ.get("NOTES_DIR", "/data")

if len(sys.argv) < 2 or not " ".join(sys.argv[1:]).strip():
    sys.exit('usage: python add_note.py "your note"')
note = " ".join(sys.argv[1:]).strip().replace("\n", " ")
os.makedirs(DATA, exist_ok=True)
with open(os.path.join(DATA, "notes.txt"), "a", encoding="utf-8") as handle:
    handle.write(note + "\n")
with open(os.path.join(DATA, "notes.txt"), encoding="utf-8") as handle:
    count = sum(1 for line in handle if line.strip())
print(f"added note {count}: {note}")
