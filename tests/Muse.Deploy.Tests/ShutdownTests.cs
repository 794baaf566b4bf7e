using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Muse.Deploy.Tests;

/// <summary>The manifests' drain setting reaches the host the way every MuseGrpc process builds it.</summary>
public sealed class ShutdownTests
{
    [KubectlFact]
    public async Task ShutdownTimeout_ManifestVariable_SetsHostOptions()
    {
        var objects = await Manifests.LoadAsync("cpu");
        var seconds = Assert.Single(objects.Deployments().Select(d => d.Env("DOTNET_shutdownTimeoutSeconds")).Distinct());
        Assert.NotNull(seconds);

        // The variable is read by WebApplication.CreateBuilder from the process environment, as in each Program.cs.
        // No other test in this assembly builds a host, so setting it for the process is safe.
        System.Environment.SetEnvironmentVariable("DOTNET_shutdownTimeoutSeconds", seconds);
        try
        {
            await using var app = WebApplication.CreateBuilder().Build();

            var timeout = app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout;

            Assert.Equal(TimeSpan.FromSeconds(int.Parse(seconds)), timeout);
            Assert.NotEqual(new HostOptions().ShutdownTimeout, timeout);
        }
        finally
        {
            System.Environment.SetEnvironmentVariable("DOTNET_shutdownTimeoutSeconds", null);
        }
    }
}
