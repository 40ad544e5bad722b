"""Run a Celery worker or beat with its clock ahead of the machine's (the clock-jump fault):

    python -m reliability.clock_ahead SECONDS worker|beat [celery options]

time-machine moves every clock Python reads (time.time, datetime.now, and so Django's
timezone.now) SECONDS ahead and lets it tick on; prefork children inherit it. PostgreSQL's own
clock (now()) stays where it is, as when one application server's clock jumps.
"""

import sys
import time

import time_machine


def main() -> None:
    seconds = float(sys.argv[1])
    time_machine.travel(time.time() + seconds, tick=True).start()
    sys.argv = ["celery", "-A", "cxfeedback", *sys.argv[2:]]
    from celery.__main__ import main as celery_main

    celery_main()


if __name__ == "__main__":
    main()
