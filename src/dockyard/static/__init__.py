"""Static checks: everything we can say about a submission without Docker.

`dockerfile` (facts from dockerfile-parse), `hadolint` (lint findings → lessons),
`policy` (the compose security policy, with line numbers). Import the submodules
directly; nothing heavy is imported here.
"""
