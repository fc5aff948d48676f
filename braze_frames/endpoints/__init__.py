"""Braze's endpoints as data, the window planner, and the parser of their JSON.

Internal. ``catalog`` lists each endpoint's facts (path, permission, budget, window cap);
``windows`` turns a range of days into requests of at most that cap; ``parse`` turns a
response body into plain columns; ``details`` reads ``/campaigns/details`` bodies (names,
conversion windows, the days a campaign was active). Nothing here imports a dataframe library: the frame is
built once, afterwards (``braze_frames._tidy``).
"""
