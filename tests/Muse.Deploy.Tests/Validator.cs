namespace Muse.Deploy.Tests;

/// <summary>deploy/validate: the node script that checks documents against the Kubernetes API's JSON schemas.</summary>
internal static class Validator
{
    private static readonly Lazy<Task> Installed = new(InstallAsync);

    /// <summary>Validates YAML documents; the exit code is 0 only when every document is valid.</summary>
    public static async Task<(int ExitCode, string Output)> ValidateAsync(string yaml)
    {
        await Installed.Value;
        var (code, stdout, stderr) = await Tools.RunAsync(
            Tools.Node!, [Path.Combine(Repo.Root, "deploy", "validate", "validate.mjs"), "-"], yaml);
        return (code, stdout + stderr);
    }

    // The project's own script installs the pinned packages (npm ci), once per run; it is a no-op when up to date.
    private static async Task InstallAsync()
    {
        var (code, stdout, stderr) = await Tools.RunAsync("bash", [Path.Combine(Repo.Root, "deploy", "validate", "install.sh")]);
        Assert.True(code == 0, $"deploy/validate/install.sh failed ({code}):\n{stdout}{stderr}");
    }
}
