using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Muse.Hosting;

namespace Muse.Services.Tests;

/// <summary>
/// The framework categories that log on every call start at Warning (a line per gRPC call and per Polly attempt was
/// most of a request's log volume), and a deployment's own Logging:LogLevel settings still win.
/// </summary>
public sealed class LoggingDefaultsTests
{
    [Theory]
    [InlineData("Microsoft.AspNetCore.Hosting.Diagnostics")]
    [InlineData("Grpc.AspNetCore.Server.ServerCallHandler")]
    [InlineData("Polly")]
    public void FrameworkCategory_Default_InformationIsOff(string category)
    {
        using var app = Build();

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(category);

        Assert.False(logger.IsEnabled(LogLevel.Information));
        Assert.True(logger.IsEnabled(LogLevel.Warning));
    }

    [Fact]
    public void MuseCategory_Default_InformationIsOn()
    {
        using var app = Build();

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Muse.Orchestrator.MuseService");

        Assert.True(logger.IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void FrameworkCategory_ConfiguredLevel_WinsOverDefault()
    {
        using var app = Build(new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore"] = "Information" });

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics");

        Assert.True(logger.IsEnabled(LogLevel.Information));
    }

    private static WebApplication Build(Dictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        builder.ConfigureMuseLogging();
        return builder.Build();
    }
}
