
rate limited