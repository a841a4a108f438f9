"""Row caches shared by every job: per-frame features of a frozen backbone and decoded clips."""
