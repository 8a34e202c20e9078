"""Quote and contract approvals in the chat.

Steps come from the [[approvals]] chain of the kind, resolved against the org directory when the
approval is submitted (`chain`), and move through their states (`flow`); the commands that change an
approval (`commands`) and look at one (`views`) read as `text` says; `escalation` chases a step that
waits past its SLA (the scheduler's tick calls it).
"""
