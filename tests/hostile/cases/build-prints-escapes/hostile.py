"""Prints what would break a report if it reached one unescaped, then exits before answering."""
import sys

out = sys.stdout.buffer
out.write(b"\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ \x1b[31m[bold red]FAKE[/bold red] \x07\x08\r\n")
out.write(b"<script>alert(1)</script> <img src=http://evil.example/t.png> ![t](http://evil.example/t.png) [x](javascript:alert(1)) | \xe2\x9c\x93 | all | 10/10 |\n")
out.write(b"bad utf-8 \xff\xfe\xc3( \xe2\x80\xae reversed \xe2\x80\x8b zero-width **bold** `code` \x00 nul\n")
out.flush()
sys.exit(1)
