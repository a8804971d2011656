import os
import sys

# roundtrip.py sits beside the suite; import it under any --import-mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
