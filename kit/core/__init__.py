"""The ground floor: what every layer may use and nothing here imports from above.

Errors, name rules, atomic writes, locks, waiting, HTTP, processes and terminal
output. No module here knows what a site is."""
