"""Background work: jobs (plain functions), the huey queue that wakes them, schedules."""
