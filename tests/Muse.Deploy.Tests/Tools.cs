using System.Diagnostics;

namespace Muse.Deploy.Tests;

/// <summary>The command-line tools the deploy tests drive, found on <c>PATH</c>.</summary>
internal static class Tools
{
    public static string? Kubectl { get; } = Find("kubectl");

    public static string? Node { get; } = Find("node");

    /// <summary>Runs a program to completion; <paramref name="stdin"/>, when given, is written to it and closed.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(
        string program, IEnumerable<string> arguments, string? stdin = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        // Guards against a hang only: npm ci on a cold cache is the slowest thing run here.
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(bound.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}

/// <summary>A fact that needs kubectl (with its built-in Kustomize); skipped, saying so, where it is not installed.</summary>
internal sealed class KubectlFactAttribute : FactAttribute
{
    public KubectlFactAttribute()
    {
        Skip = Tools.Kubectl is null ? "kubectl is not installed: the Kustomize overlays cannot be rendered." : null;
    }
}

/// <summary>A theory that needs kubectl; skipped, saying so, where it is not installed.</summary>
internal sealed class KubectlTheoryAttribute : TheoryAttribute
{
    public KubectlTheoryAttribute()
    {
        Skip = Tools.Kubectl is null ? "kubectl is not installed: the Kustomize overlays cannot be rendered." : null;
    }
}

/// <summary>A theory that needs kubectl and Node.js (the schema validator); skipped, saying which is missing.</summary>
internal sealed class ValidatorTheoryAttribute : TheoryAttribute
{
    public ValidatorTheoryAttribute()
    {
        Skip = Tools.Kubectl is null ? "kubectl is not installed: the Kustomize overlays cannot be rendered."
            : Tools.Node is null ? "node is not installed: the schema validator (deploy/validate) cannot run."
            : null;
    }
}

/// <summary>A fact that needs Node.js (the schema validator); skipped, saying so, where it is not installed.</summary>
internal sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        Skip = Tools.Node is null ? "node is not installed: the schema validator (deploy/validate) cannot run." : null;
    }
}
