"""Pure lead qualification: criteria, scoring, decay, evaluation. No I/O."""
