using System.Text;

namespace Muse.Hosting;

/// <summary>
/// A redirected <see cref="Console.Out"/> flushes every 256 characters, so one JSON log entry of 2 KB became eight
/// write(2) calls (and eight reads in a parent that collects the output). The console logger writes an entry with a
/// single Write call; with a larger buffer that is one system call per entry. Still flushed after every write, so
/// nothing waits in the buffer (the listening line included).
/// </summary>
internal static class ConsoleBuffer
{
    private const int BufferSize = 64 * 1024;
    private static int _enlarged;

    /// <summary>Once per process, and only when the output goes to a pipe or a file (a terminal is left alone).</summary>
    public static void Enlarge()
    {
        if (!Console.IsOutputRedirected || Interlocked.Exchange(ref _enlarged, 1) == 1)
        {
            return;
        }

        Console.SetOut(new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), BufferSize)
        {
            AutoFlush = true,
        });
    }
}
