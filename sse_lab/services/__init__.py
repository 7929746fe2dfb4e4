"""Programs the lab runs beside itself (Redis, nginx, ...): each on a free port, in a
temporary directory of its own, and stopped by its process id."""
