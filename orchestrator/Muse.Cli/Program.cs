using System.CommandLine;
using Muse.Client;
using Muse.Cli;
using Spectre.Console;

ShutdownHooks.Register();
if (Console.IsOutputRedirected)
{
    // Logs and pipes have no width; Spectre's 80-column fallback would wrap model names mid-word.
    AnsiConsole.Profile.Width = 160;
}

// One file per command; Program.cs only lists them. Models are listed by the client and built by Muse.ModelBuilder.
var root = new RootCommand("Muse text-to-image over gRPC: generate images with a running or a local Muse cluster.")
{
    GenerateCommand.Create(),
    InpaintCommand.Create(),
    OutpaintCommand.Create(),
    EditCommand.Create(),
    ModelsCommand.Create(ImportCommand.Create(), BuildRandomCommand.Create()),
    UpCommand.Create(),
    KeysCommand.Create(),
    BenchCommand.Create(),
    EvalCommand.Create(),
    ShowcaseCommand.Create(),
    ReproduceCommand.Create(),
    CheckCommand.Create(),
    LoadCommand.Create(),
};

// Ctrl-C cancels the command's token; the grace period lets a local cluster stop in order before the process ends.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(20) };
return await root.Parse(args).InvokeAsync(invocation);
