"""The product's rules: jobs, limits, policy and delivery bookkeeping. No Discord, no database
driver: the cogs call in, and storage adapters implement `bot.core.ports`."""
