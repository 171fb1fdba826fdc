"""The cross-play ladder: submissions against each other on two-player variants, rated.

:mod:`~arena.ladder.match` plays and stores matches (each side's adaptation is the trial
procedure's own); :mod:`~arena.ladder.ratings` turns stored matches into payoffs, OpenSkill
ratings and α-Rank.
"""
