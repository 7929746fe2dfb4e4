"""Programs the lab runs beside itself: Redis and nginx (each on a free port, in a temporary
directory of its own, stopped by its process id) and a headless Chromium (Playwright)."""
