using Muse.Training.Cli;

// Verbs train | export-weights | export | parity-fixtures | evaluate | names (README.md; `--help` lists them):
// TrainerCommandLine parses and binds, TrainerVerbs runs them with TorchSharp.
return TrainerCommandLine.Create(new TrainerVerbs(Console.Out)).Parse(args).Invoke();
