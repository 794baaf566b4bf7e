namespace Muse.Cluster.Tests;

public sealed class ChildLaunchTests
{
    [Fact]
    public void ListeningOn_UrlsArguments_ReplacesEveryValueAndKeepsTheRest()
    {
        var launch = new ChildLaunch("sr", 1, [], "dotnet", ["sr.dll", "--urls", "http://127.0.0.1:0", "--Muse:X=1", "--urls=http://127.0.0.1:0"], []);

        var again = launch.ListeningOn(new Uri("http://127.0.0.1:4321/"));

        Assert.Equal(["sr.dll", "--urls", "http://127.0.0.1:4321", "--Muse:X=1", "--urls=http://127.0.0.1:4321"], again.Arguments);
        Assert.Equal(["sr.dll", "--urls", "http://127.0.0.1:0", "--Muse:X=1", "--urls=http://127.0.0.1:0"], launch.Arguments);
    }

    [Fact]
    public void ListeningOn_EveryInterface_KeepsTheWildcardHostAndTakesThePort()
    {
        var launch = new ChildLaunch("orchestrator", 0, [], "dotnet", ["o.dll", "--urls", "http://0.0.0.0:0"], []);

        var again = launch.ListeningOn(new Uri("https://127.0.0.1:4321/"));

        Assert.Equal(["o.dll", "--urls", "http://0.0.0.0:4321"], again.Arguments);
    }
}
