"""The box's durable state: one SQLite database (db.py) that the alert history, the sinks' outboxes and the console
accounts keep their rows in."""
