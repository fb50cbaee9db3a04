"""Random order streams for the venue simulator's checks, shared by
random_orders_dbn.py and random_orders_npz.py: day orders sent at random
moments of a touch series, on a random side, at the touch or up to 3 ticks
behind it (sometimes 1 tick through it), of 1 lot up to a maximum, in
tickline-venue-replay's --orders-in format."""
import random

HEADER = "client_order_id,sent_ns,instrument_id,side,price,qty,tif"


def emit(tops, n, seed, max_qty, row):
    """Prints the header and `n` orders at moments picked from `tops`
    ((time, bid, ask) in time order); `row(id, time, side, bid, ask,
    ticks_behind, lots)` formats one (ticks_behind -1: one tick through)."""
    rng = random.Random(seed)
    picks = sorted(rng.sample(range(len(tops)), min(n, len(tops))))
    print(HEADER)
    last = 0
    for k, i in enumerate(picks, 1):
        t, bid, ask = tops[i]
        t = max(t, last)  # send times never go back
        last = t
        side = rng.choice((1, -1))
        behind = rng.choice((-1, 0, 0, 1, 2, 3))
        print(row(k, t, side, bid, ask, behind, rng.randint(1, max_qty)))
