"""The application layer under the command line: what a user does with a finished run
(load it, export it, analyse it functionally, evaluate PEFT folders), as functions."""
