"""End-to-end tests: headless Chromium against the live provider and the example relying party."""
