"""Shared loss objects (a shared floor: never imports ``pictorch.tasks``)."""
