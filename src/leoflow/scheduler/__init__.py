"""The scheduler: pure planning (trigger rules, timetables, run outcome) and the loop around it."""
