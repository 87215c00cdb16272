"""Showing a job in Discord: where its reply lives (`replies`), keeping its progress current
(`progress`), who may ask where (`permissions`), and the flow that ties them (`flow`)."""
