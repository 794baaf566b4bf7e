namespace Muse.Cluster.Tests;

public sealed class RestartPolicyTests
{
    [Fact]
    public void Backoff_Defaults_DoublesFromHalfASecondUpToThirtySeconds()
    {
        var sut = new RestartPolicy();

        var backoffs = Enumerable.Range(1, 9).Select(attempt => sut.Backoff(attempt).TotalSeconds);

        Assert.Equal([0.5, 1, 2, 4, 8, 16, 30, 30, 30], backoffs);
    }

    [Fact]
    public void Backoff_ManyAttemptsWithAHugeCap_StopsAtTheCapWithoutOverflow()
    {
        var sut = new RestartPolicy { InitialBackoff = TimeSpan.FromDays(1), MaxBackoff = TimeSpan.MaxValue };

        Assert.Equal(TimeSpan.MaxValue, sut.Backoff(1000));
    }
}
