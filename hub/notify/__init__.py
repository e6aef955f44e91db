"""Notifications to Ente back-offices.

``webhooks``: signed deliveries of events to registered endpoints, attempts recorded, retries
due in PostgreSQL, dead letters and replay.
"""
