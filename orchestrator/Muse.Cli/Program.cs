using System.CommandLine;
using Muse.Cli;

ShutdownHooks.Register();

// One file per command; Program.cs only lists them.
var root = new RootCommand("Muse text-to-image over gRPC: generate images with a running or a local Muse cluster.")
{
    GenerateCommand.Create(),
    ModelsCommand.Create(),
    UpCommand.Create(),
};

// Ctrl-C cancels the command's token; the grace period lets a local cluster stop in order before the process ends.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(20) };
return await root.Parse(args).InvokeAsync(invocation);
