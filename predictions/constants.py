# How often a worker re-reads which version is the champion: a promotion or rollback is served by every
# worker within this many seconds, without a restart, at the cost of one small query per interval.
CHAMPION_RECHECK_SECONDS = 2.0
