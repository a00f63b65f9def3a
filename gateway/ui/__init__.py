"""The web UI: static pages (plain JavaScript modules, no build step) served at ``/ui``.

The pages are one more client of ``/api/v1``: they call nothing else, so every page and action
is allowed or refused exactly as the API allows or refuses it. See ``gateway/ui/app.py``.
"""

from gateway.ui.app import is_browser_navigation, setup_ui

__all__ = ["is_browser_navigation", "setup_ui"]
